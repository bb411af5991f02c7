// The monitoring view's own texts (shared ones: src/locales). Same keys in both; no English beside the Chinese.
import { SERVICE_PROBLEMS } from "@/shared/health";

export default {
  "zh-CN": {
    monitor: {
      title: "城市生命线监测",
      shown: { normal: "正常", l1: "一级报警", l2: "二级报警", l3: "三级报警", offline: "离线" },
      level: { 1: "一级", 2: "二级", 3: "三级" },
      kinds: { gas: "燃气", water: "供水", drainage: "排水", bridge: "桥梁", heating: "供热" },
      metrics: { ppm: "浓度(μL/L)", pressure: "压力(兆帕)", bar: "压力(巴)", level: "液位(米)", strain: "应变(με)",
        tilt: "倾角(°)", temp: "温度(℃)" },
      total: "设备总数", allKinds: "全部类型", kind: "类型", status: "状态", reset: "全部状态",
      alarms: "报警与离线", noAlarms: "暂无报警或离线设备", more: "另有{n}台", ticket: "工单",
      noTicket: "无工单", device: "设备", pick: "点击地图上的设备或报警列表查看读数曲线",
      range: { "1h": "1小时", "24h": "24小时", "7d": "7天" },
      noReadings: "该时段无读数", binned: "已按{s}秒聚合（均值，阴影为最小—最大）",
      threshold: "{level} {dir}{value}", above: "≥", below: "≤",
      lastAt: "最近读数", unit: "责任单位", offlineAfter: "离线判定", seconds: "{n}秒", network: "管网",
      updated: "更新于 {time}", truncated: "设备过多，仅显示前{n}台", loadFailed: "加载失败：{why}",
      openTicket: "在指挥中心打开", close: "关闭", console: "指挥中心",
      stale: "监测服务异常，设备状态可能已过时：", services: SERVICE_PROBLEMS["zh-CN"].lifeline,
    },
  },
  en: {
    monitor: {
      title: "Lifeline monitoring",
      shown: { normal: "Normal", l1: "Level 1 alarm", l2: "Level 2 alarm", l3: "Level 3 alarm", offline: "Offline" },
      level: { 1: "L1", 2: "L2", 3: "L3" },
      kinds: { gas: "Gas", water: "Water supply", drainage: "Drainage", bridge: "Bridge", heating: "Heating" },
      metrics: { ppm: "Concentration (ppm)", pressure: "Pressure (MPa)", bar: "Pressure (bar)", level: "Level (m)",
        strain: "Strain (με)", tilt: "Tilt (°)", temp: "Temperature (°C)" },
      total: "Devices", allKinds: "All kinds", kind: "Kind", status: "Status", reset: "All statuses",
      alarms: "Alarms and offline", noAlarms: "No device in alarm or offline", more: "{n} more", ticket: "Ticket",
      noTicket: "No ticket", device: "Device", pick: "Pick a device on the map or in the alarm list to see its readings",
      range: { "1h": "1 h", "24h": "24 h", "7d": "7 d" },
      noReadings: "No readings in this range", binned: "Averaged per {s} s (band: min–max)",
      threshold: "{level} {dir}{value}", above: "≥", below: "≤",
      lastAt: "Last reading", unit: "Unit", offlineAfter: "Offline after", seconds: "{n} s", network: "Network",
      updated: "Updated {time}", truncated: "Too many devices: the first {n} shown", loadFailed: "Could not load: {why}",
      openTicket: "Open in the command centre", close: "Close", console: "Command centre",
      stale: "Lifeline monitoring is failing; device states may be stale: ", services: SERVICE_PROBLEMS.en.lifeline,
    },
  },
};
