export default {
  "zh-CN": {
    track: { title: "进度查询", label: "受理编号或案件编号", placeholder: "R-… 或 CC20261122-00042", lookUp: "查询",
      notFoundTicket: "没有找到该案件", notYet: "尚未查到，刚提交的反映需要几秒钟", received: "已收到，正在处理",
      failed: "系统未能登记这条反映，请重新提交或拨打12345",
      history: "办理经过", tooMany: "查询太频繁，请稍后再试",
      mine: "我的反映", newReport: "我要反映" },
  },
  en: {
    track: { title: "Track a case", label: "Report number or case number", placeholder: "R-… or CC20261122-00042",
      lookUp: "Look up", notFoundTicket: "No such case", notYet: "Not found yet: a new report takes a few seconds",
      received: "Received, being processed",
      failed: "This report could not be registered; please send it again or call 12345", history: "What happened", tooMany: "Too many look-ups; try again in a minute",
      mine: "My reports", newReport: "Report a problem" },
  },
};
