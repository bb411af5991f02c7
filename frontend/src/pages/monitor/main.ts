import "@/shared/base.css";
import "./monitor.css";
import { startPage } from "@/shared/platform";
import Monitor from "./Monitor.vue";
import messages from "./messages";

startPage(Monitor, messages);
