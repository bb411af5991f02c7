export default {
  "zh-CN": {
    screen: {
      title: "城市运行管理服务指挥大屏", intakeToday: "今日受理", open: "在办", pending: "待处理", dueSoon: "临期",
      overdue: "超时", closedToday: "今日结案", urgent: "紧急", byChannel: "今日受理渠道", byDistrict: "各区按期处置率与结案率（近30天）",
      onTime: "按期处置率", closeRate: "结案率", ranking: "单位排名（近30天）", red: "红榜", black: "黑榜", rank: "名次",
      unit: "单位", score: "得分", topCategories: "高发问题 Top 10（近30天）", heat: "问题热力（近30天，按社区）",
      trend7: "近7天趋势", trend30: "近30天趋势", intake: "受理", dispatched: "派遣", closed: "结案",
      districtOpen: "各区在办", noRank: "暂无排名", updated: "更新于 {time}", cases: "件",
    },
  },
  en: {
    screen: {
      title: "City operations command centre", intakeToday: "Received today", open: "Open", pending: "Pending",
      dueSoon: "Due soon", overdue: "Overdue", closedToday: "Closed today", urgent: "Urgent",
      byChannel: "Today's intake by channel", byDistrict: "On-time and closure rates by district (30 days)", onTime: "On time",
      closeRate: "Closed", ranking: "Unit ranking (30 days)", red: "Red list", black: "Black list", rank: "Rank",
      unit: "Unit", score: "Score", topCategories: "Top 10 problems (30 days)", heat: "Hotspots (30 days, by community)",
      trend7: "Last 7 days", trend30: "Last 30 days", intake: "Received", dispatched: "Dispatched", closed: "Closed",
      districtOpen: "Open by district", noRank: "No ranking yet", updated: "Updated {time}", cases: "",
    },
  },
};
