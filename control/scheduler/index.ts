/** The scheduler's public surface: the pure planner, its types, the adapters from API objects. */
export { plan, NOT_EXAMINED } from './plan.js';
export { agedPriority, resolveConfig, DEFAULT_PRIORITY } from './priority.js';
export { checkReservationFeasible, type Feasibility } from './reservations.js';
export { buildPlanInput, toSchedTask, toSchedQueue, toSchedWorker, toSchedReservation, allocationsFromTasks, type RunningAllocation } from './adapt.js';
export * from './types.js';
