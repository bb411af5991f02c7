import phone from "@/shared/phone/messages";

export default {
  "zh-CN": {
    ...phone["zh-CN"],
    report: {
      title: "我要反映", tabForm: "反映问题", tabMine: "我的反映",
      lead: "城市管理问题，如垃圾堆放、占道经营、井盖破损、路灯不亮。紧急险情请拨打110或119。",
      category: "问题类别", description: "问题描述", descriptionPlaceholder: "请描述看到的问题",
      where: "位置", useLocation: "使用我的位置", address: "地址", addressPlaceholder: "没有定位时请填写，例：人民大街1000号附近",
      photos: "照片（可选，最多{max}张）", phone: "联系电话", phonePlaceholder: "可选，仅工作人员可见",
      submit: "提交", needDescription: "请描述问题", needPlace: "请使用我的位置，或填写地址",
      received: "已受理", keepNumber: "请记下受理编号，用于查询办理进度：", track: "查询进度",
      queuedTitle: "已保存，待发送", queuedText: "现在没有网络或系统繁忙，反映已保存在本机，联网后会自动发送。受理编号：",
      another: "再反映一个问题", mine: "我的反映",
    },
  },
  en: {
    ...phone.en,
    report: {
      title: "Report a problem", tabForm: "Report", tabMine: "My reports",
      lead: "City problems such as litter, street vending, broken manhole covers, dark street lights. For emergencies call 110 or 119.",
      category: "Category", description: "What is the problem?", descriptionPlaceholder: "Describe what you see",
      where: "Where?", useLocation: "Use my location", address: "Address", addressPlaceholder: "Without a location: e.g. near 1000 Renmin St",
      photos: "Photos (optional, up to {max})", phone: "Phone", phonePlaceholder: "Optional, seen by staff only",
      submit: "Submit", needDescription: "Please describe the problem", needPlace: "Use your location or type an address",
      received: "Received", keepNumber: "Keep this number to track progress:", track: "Track it",
      queuedTitle: "Saved, waiting to send", queuedText: "No connection or the system is busy: your report is kept on this device and sent automatically when the connection returns. Report number:",
      another: "Report another problem", mine: "My reports",
    },
  },
};
