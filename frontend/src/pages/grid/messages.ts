import phone from "@/shared/phone/messages";

export default {
  "zh-CN": {
    ...phone["zh-CN"],
    grid: {
      title: "网格员", cell: "网格", tabReport: "上报", tabTasks: "核查任务", tabMine: "我的上报",
      descriptionPlaceholder: "看到的情况（可选）", submit: "上报", sent: "已上报：{id}",
      needCategory: "请选择问题类别", needLocation: "请先定位（可在地图上拖动标记修正）",
      unclassified: "未分类", handled: "处置情况", finding: "核查情况", findingPlaceholder: "现场核查的情况，核查不通过时必填",
      needFinding: "核查不通过时，请写明还存在的问题", noTasks: "本网格暂无待核查的案件", reload: "刷新",
    },
  },
  en: {
    ...phone.en,
    grid: {
      title: "Grid worker", cell: "Grid", tabReport: "Report", tabTasks: "Verify", tabMine: "My reports",
      descriptionPlaceholder: "What you see (optional)", submit: "Report", sent: "Reported: {id}",
      needCategory: "Choose a category", needLocation: "Locate first (drag the marker on the map to correct it)",
      unclassified: "Unclassified", handled: "What was done", finding: "Finding", findingPlaceholder: "What you found on site; required when it fails",
      needFinding: "Say what is still wrong when verification fails", noTasks: "Nothing to verify in your grid", reload: "Refresh",
    },
  },
};
