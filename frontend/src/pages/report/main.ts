import "@/shared/base.css";
import "@/shared/phone/phone.css";
import { startPage } from "@/shared/platform";
import { registerWorker } from "@/shared/phone/device";
import Report from "./Report.vue";
import messages from "./messages";

registerWorker();
startPage(Report, messages);
