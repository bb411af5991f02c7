// One row of GET /api/v1/evaluation (contract §8), as the wall screen and the evaluation page both read it.
export interface EvalRow {
  key: { code: string | null; name: string | null };
  counts: Record<string, number>;
  rates: Record<string, number | null>;
  score: number | null;
  rank: number | null;
}
/** The 红黑榜: the keys of the rows on each board. */
export interface Boards { red: (string | null)[]; black: (string | null)[] }
