import "@/shared/base.css";
import "./unit.css";
import { startPage } from "@/shared/platform";
import Unit from "./Unit.vue";
import messages from "./messages";

startPage(Unit, messages);
