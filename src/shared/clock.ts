/** Time comes in through this so the planner and the reducer can be tested with plain numbers. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };
