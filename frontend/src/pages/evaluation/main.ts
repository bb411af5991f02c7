import "@/shared/base.css";
import "./evaluation.css";
import { startPage } from "@/shared/platform";
import Evaluation from "./Evaluation.vue";
import messages from "./messages";

startPage(Evaluation, messages);
