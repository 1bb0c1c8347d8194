/** Tasks, their logs and the queue statistics. */
import type { CreateTaskRequest, Task, TaskStatus } from '../../../shared/api-types.js';
import { isFinalStatus } from '../../../shared/api-types.js';
import { notFound } from '../../../shared/errors.js';
import { nodeLogId } from '../../blobs/logs.js';
import { queueStats } from '../../services/stats.js';
import { actorOf, body, params, query, type ApiDeps, type Handlers } from './types.js';

export function taskRoutes({ ctx }: ApiDeps): Handlers {
  const withOutput = async (t: Task): Promise<Task> => {
    const output = await ctx.logs.tail(t.id, ctx.config.logTailBytes);
    return output ? { ...t, output } : t;
  };
  return {
    listTasks: (req) => {
      const q = query<{ status?: TaskStatus; user_id?: string; limit: number; offset: number }>(req);
      return ctx.tasks.list(actorOf(req), q);
    },
    createTask: async (req, reply) => reply.code(201).send(await ctx.tasks.create(actorOf(req), body<CreateTaskRequest>(req))),
    createTasksBatch: async (req, reply) =>
      reply.code(201).send({ tasks: await ctx.tasks.createMany(actorOf(req), body<{ tasks: CreateTaskRequest[] }>(req).tasks) }),
    getTask: async (req) => withOutput(ctx.tasks.get(actorOf(req), params<'taskId'>(req).taskId)),
    cancelTask: async (req, reply) => {
      await ctx.tasks.cancel(actorOf(req), params<'taskId'>(req).taskId);
      return reply.code(204).send();
    },
    getTaskLogs: async (req, reply) => {
      const task = ctx.tasks.get(actorOf(req), params<'taskId'>(req).taskId);
      const q = query<{ follow?: boolean; node?: number }>(req);
      const follow = q.follow === true;
      // ?node=r: rank r of a gang (0, the default, is the task's own log); a rank it lacks is 404.
      const rank = q.node ?? 0;
      if (rank >= Math.max(1, task.node_count ?? 1)) throw notFound(`Node ${rank} of this task`);
      const logId = nodeLogId(task.id, rank);
      if (!follow || isFinalStatus(task.status)) {
        return reply.type('text/plain; charset=utf-8').send(await ctx.logs.read(logId));
      }
      // Stream: everything so far, then each appended chunk, until the task is final.
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-trace-id': String(req.id) });
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        unsubscribe();
        ctx.events.off('task', onTask);
        res.end();
      };
      const onTask = (t: Task) => {
        // Log chunks sent before the final status are appended before it is committed.
        if (t.id === task.id && isFinalStatus(t.status)) setImmediate(finish);
      };
      ctx.events.on('task', onTask);
      const unsubscribe = await ctx.logs.follow(logId, 0, (chunk) => res.write(chunk));
      res.on('close', finish);
      const now = ctx.store.get('tasks', task.id);
      if (!now || isFinalStatus(now.status)) finish();
      return reply;
    },
    getQueueStats: () => queueStats(ctx.store, ctx.clock.now()),
  };
}
