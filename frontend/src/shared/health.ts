// The background services' health as /readyz tells it (`warnings`: the lifeline and notify consumers, judged
// from their heartbeats by streams.status with the same codes as intake's). The console shows every service in
// its 后台服务异常 banner; the monitoring view shows the lifeline's, whose silence makes its map stale.

export type HealthProblem = { code: string; params: Record<string, unknown>; text: string };
export interface ReadyBody {
  status?: string;
  checks?: Record<string, string>;
  problems?: Record<string, HealthProblem[]>;
  warnings?: Record<string, HealthProblem[]>;
}

/** /readyz's answer (200 or 503, both with a body); null when the server cannot be reached. */
export async function readReady(): Promise<{ ok: boolean; body: ReadyBody | null } | null> {
  try {
    const r = await fetch("/readyz", { credentials: "same-origin", cache: "no-store" });
    return { ok: r.ok, body: await r.json().catch(() => null) as ReadyBody | null };
  } catch {
    return null;
  }
}

type Translate = (key: string, params?: Record<string, unknown>) => string;

/** One service's problems in the reader's language: `${prefix}.${code}` where the page has the key, the
 *  server's English sentence otherwise. */
export function wordProblems(found: HealthProblem[], prefix: string, t: Translate, te: (key: string) => boolean): string {
  return found.map((p) => (te(`${prefix}.${p.code}`) ? t(`${prefix}.${p.code}`, p.params) : p.text)).join("；");
}

function zh(member: string, none: string) {
  return {
    no_worker: `没有正在运行的${none}`,
    worker_silent: `${member} {worker} 已 {seconds} 秒无响应（已退出或被阻塞）`,
    worker_unassigned: `${member} {worker} 已 {seconds} 秒未分到分区：消费组未能建立（或进程多于分区）`,
    worker_lagging: `${member} {worker} 积压 {lag} 条，已 {seconds} 秒没有提交进度`,
    worker_stuck: `${member} {worker} 停滞：{reason}`,
    no_partitions: `已 {seconds} 秒没有${member}持有分区`,
  };
}

function en(member: string, none: string) {
  return {
    no_worker: `no ${member} is running: ${none}`,
    worker_silent: `${member} {worker} silent for {seconds} s (exited or blocked)`,
    worker_unassigned: `${member} {worker} has had no partition for {seconds} s: the consumer group is not forming (or there are more consumers than partitions)`,
    worker_lagging: `${member} {worker}: {lag} waiting, no commit for {seconds} s`,
    worker_stuck: `${member} {worker} stuck: {reason}`,
    no_partitions: `no ${member} has owned a partition for {seconds} s`,
  };
}

/** The wording of each service's problem codes, per language (pages put it under their own keys). */
export const SERVICE_PROBLEMS = {
  "zh-CN": {
    lifeline: zh("监测进程", "生命线监测进程，传感器读数无人处理，请运维人员启动监测服务"),
    notify: zh("通知进程", "通知进程，短信、邮件和推送无人发送，请运维人员启动通知服务"),
  },
  en: {
    lifeline: en("lifeline consumer", "no one reads sensor readings (start yunguan lifeline)"),
    notify: en("notify consumer", "no one sends SMS, e-mail or webhooks (start yunguan notify)"),
  },
};
