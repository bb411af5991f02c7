import "@/shared/base.css";
import "./screen.css";
import { startPage } from "@/shared/platform";
import Screen from "./Screen.vue";
import messages from "./messages";

startPage(Screen, messages);
