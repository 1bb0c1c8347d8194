/** Prometheus metrics (prom-client), one registry per control instance. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from './store/types.js';

export function createMetrics(store: Store) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fetchml_control_' });
  const requests = new Counter({ name: 'fetchml_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const duration = new Histogram({
    name: 'fetchml_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const tasks = new Gauge({ name: 'fetchml_tasks', help: 'Tasks by status', labelNames: ['status'], registers: [registry] });
  const wsClients = new Gauge({ name: 'fetchml_ws_clients', help: 'Connected /ws clients', registers: [registry] });
  return {
    registry,
    wsClients,
    observe(method: string, route: string, status: number, seconds: number) {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ method, route }, seconds);
    },
    async render() {
      const counts = new Map<string, number>();
      for (const t of store.values('tasks')) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
      tasks.reset();
      for (const [status, n] of counts) tasks.set({ status }, n);
      return registry.metrics();
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
