import "@/shared/base.css";
import "./track.css";
import { startPage } from "@/shared/platform";
import Track from "./Track.vue";
import messages from "./messages";

startPage(Track, messages);
