// The tools' texts join the page's catalogue the first time a tool is set up, so the console page mounts the
// tools without listing their texts; `t`/`te` are the page's (errors.<code> for explain() included).
import { useI18n } from "vue-i18n";
import messages from "./messages";

const merged = new WeakSet<object>();

export function useToolsI18n() {
  const i18n = useI18n({ useScope: "global" });
  if (!merged.has(i18n)) {
    i18n.mergeLocaleMessage("zh-CN", messages["zh-CN"]);
    i18n.mergeLocaleMessage("en", messages.en);
    merged.add(i18n);
  }
  return i18n;
}
