import { RaindropError, errorCodes } from '../../core/index.js';
import { getDoc } from '../../couch/bulk-get.js';
import { putDoc } from '../../couch/put-doc.js';
import { type WorkerRole, drainRequestId, workerDocId, workerRoles } from '../../cluster/documents.js';
import { type ClusterTiming, clusterLimits } from '../../cluster/limits.js';
import type { Command, CommandContext } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';
import { QueueRunner } from '../../queue/queue-runner.js';
import { SchemaRegistry } from '../../schema/registry.js';
import { runWorker } from '../run-worker.js';

function parseRoles(value: unknown): WorkerRole[] {
  if (value === undefined) return [...workerRoles];
  const roles = String(value).split(',').map((r) => r.trim()).filter(Boolean);
  const bad = roles.filter((r) => !(workerRoles as readonly string[]).includes(r));
  if (bad.length > 0 || roles.length === 0) throw new RaindropError(errorCodes.USAGE, `--roles takes a comma-separated list of ${workerRoles.join(', ')}; got "${String(value)}"`);
  return roles as WorkerRole[];
}

function parseTiming(values: Record<string, unknown>): Partial<ClusterTiming> {
  const ms = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 100 || n > 600_000) throw new RaindropError(errorCodes.USAGE, `--${name} takes milliseconds between 100 and 600000, got "${String(v)}"`);
    return n;
  };
  const heartbeat = ms('heartbeat-ms');
  const lease = ms('lease-ms');
  if (heartbeat === undefined && lease === undefined) return {};
  const heartbeatMs = heartbeat ?? clusterLimits.heartbeatMs;
  const leaseMs = lease ?? clusterLimits.leaseMs;
  if (leaseMs < 3 * heartbeatMs) throw new RaindropError(errorCodes.USAGE, `--lease-ms must be at least three heartbeats (${3 * heartbeatMs}); a lease renewed once per heartbeat would run out between two renewals`);
  // Same proportions as the defaults: dead after lease + one heartbeat, margin a quarter.
  return { heartbeatMs, leaseMs, liveMs: leaseMs + heartbeatMs, safetyMarginMs: Math.floor(leaseMs / 4) };
}

/** Asks a running worker (anywhere) to drain: a request document it looks for at every
 * heartbeat (documents.ts says why not a flag on its own document). */
async function requestDrain(ctx: CommandContext, id: string): Promise<number> {
  const { server, db } = await openDatabase(ctx);
  try {
    if (!(await getDoc(db, workerDocId(id)))) throw new RaindropError(errorCodes.USAGE, `no worker "${id}" is announced in ${ctx.config.db}; "raindrop status" lists the workers`);
    const written = await putDoc(db, { _id: drainRequestId(id), rd_cluster: 'drain', worker: id, requested: Date.now() });
    // A 409: the request is there already (asked twice); the worker is on its way out.
    ctx.output.data({ worker: id, draining: true, alreadyAsked: !written.ok }, `asked ${id} to drain: it finishes its batches in hand, releases its leases and exits`);
    return exitCodes.ok;
  } finally {
    await server.release();
  }
}

export const workerCommand: Command = {
  name: 'worker',
  help: `Usage: raindrop worker [--roles process,fetch,send] [global options]
       raindrop worker --drain WORKER-ID

Runs one worker of several that share one database (usually a CouchDB cluster, each
worker talking to a nearby node with --couch). The worker announces itself (a heartbeat
every 2 s), takes its share of the queue's ${clusterLimits.partitions} partitions of the key
space (chosen by rendezvous hashing over the live workers), and with the roles "send" and
"fetch" the mail sender and the mail accounts, one owner at a time, through leases. A
worker silent for 10 s is dead: the others take its share within 15 s. A new worker
takes its share without a restart of the others. See "Running on several machines" in the README.

Ctrl-C or SIGTERM: finishes the batches in hand, releases its leases and exits.
--drain WORKER-ID asks that worker (on any machine) to do the same.

Options:
  --roles LIST        what this worker offers (default: ${workerRoles.join(',')}; "index"
                      is accepted but the search index stays with "raindrop serve",
                      which keeps it on its own disk)
  --drain ID          ask the worker ID to drain and exit
  --verbose           a line per batch
  --heartbeat-ms N    heartbeat period (default ${clusterLimits.heartbeatMs})
  --lease-ms N        lease time (default ${clusterLimits.leaseMs}); a worker is dead after
                      lease + one heartbeat

Examples:
  raindrop worker --couch http://admin:pw@db1:5984
  raindrop worker --roles process --couch http://admin:pw@db2:5984
  raindrop worker --drain host2-4242-a1b2c3`,
  options: { roles: { type: 'string' }, drain: { type: 'string' }, verbose: { type: 'boolean' }, 'heartbeat-ms': { type: 'string' }, 'lease-ms': { type: 'string' } },
  async run(ctx, values) {
    if (typeof values.drain === 'string') return requestDrain(ctx, values.drain);
    const roles = parseRoles(values.roles);
    const timing = parseTiming(values);
    const { db, release } = await openDatabase(ctx);
    try {
      const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
      try {
        // Schema documents installed while it runs (with new extensions) are used at once.
        registry.follow();
        const startRunner = () => QueueRunner.start({ db, registry, logger: ctx.logger });
        return await runWorker(ctx, { db, registry, startRunner, roles, timing, verbose: values.verbose === true }, (member) => {
          ctx.output.data({ worker: member.id, roles }, `worker ${member.id} (${roles.join(', ')}) joined ${ctx.config.db}`);
        });
      } finally {
        await registry.close();
      }
    } finally {
      await release();
    }
  },
};
