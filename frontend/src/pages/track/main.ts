import "@/shared/base.css";
import "@/shared/phone/phone.css";
import "./track.css";
import { startPage } from "@/shared/platform";
import { registerWorker } from "@/shared/phone/device";
import Track from "./Track.vue";
import messages from "./messages";

registerWorker();
startPage(Track, messages);
