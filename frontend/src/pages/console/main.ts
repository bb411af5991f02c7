import "@/shared/base.css";
import "./console.css";
import { startPage } from "@/shared/platform";
import Console from "./Console.vue";
import messages from "./messages";

startPage(Console, messages);
