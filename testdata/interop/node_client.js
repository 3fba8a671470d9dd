// The node-resque side of goresque's interop tests (resque/interop_node_test.go):
// node-resque 9.7.1's own API against the test's Redis. Not a goresque component.
//
//   NODE_PATH=<node_modules> node node_client.js PORT ACTION [ARGS...]
//
//   enqueue QUEUE CLASS ARGS_JSON   queue.enqueue(QUEUE, CLASS, ARGS)
//   info                            queue.workers(), failed(0, -1), stats(), allWorkingOn()
//   forceClean NAME                 queue.forceCleanWorker(NAME): NAME is host:pid
//   worker QUEUES                   a node-resque Worker for QUEUES (comma separated) with
//                                   the jobs NodeJob and NodeSlow below, until SIGTERM
const { Queue, Worker } = require("node-resque");

const [port, action, ...args] = process.argv.slice(2);
const connection = { host: "127.0.0.1", port: Number(port), namespace: "resque" };

async function main() {
  const queue = new Queue({ connection });
  await queue.connect();
  const redis = queue.connection.redis;
  switch (action) {
    case "enqueue":
      await queue.enqueue(args[0], args[1], JSON.parse(args[2]));
      console.log("null");
      break;
    case "info":
      console.log(JSON.stringify({
        workers: await queue.workers(),
        failed: await queue.failed(0, -1),
        stats: await queue.stats(),
        allWorkingOn: await queue.allWorkingOn(),
      }));
      break;
    case "forceClean":
      console.log(JSON.stringify((await queue.forceCleanWorker(args[0])) || null));
      break;
    case "worker": {
      const jobs = {
        // NodeJob records its arguments in Redis, so the test sees that it ran.
        NodeJob: { perform: async (...a) => { await redis.rpush("resque:node-performed", JSON.stringify(a)); return "ok"; } },
        // NodeSlow runs until the key resque:node-release exists.
        NodeSlow: {
          perform: async (...a) => {
            await redis.rpush("resque:node-started", JSON.stringify(a));
            while (!(await redis.exists("resque:node-release"))) await new Promise((r) => setTimeout(r, 50));
            return "ok";
          },
        },
      };
      const worker = new Worker({ connection, queues: args[0].split(","), timeout: 100 }, jobs);
      worker.on("error", (e) => console.error("error", e));
      await worker.connect();
      await worker.start();
      console.log("started " + worker.name);
      process.on("SIGTERM", async () => { await worker.end(); await queue.end(); process.exit(0); });
      return;
    }
    default:
      console.error("unknown action " + action);
      process.exit(2);
  }
  await queue.end();
}

main().catch((e) => { console.error(e); process.exit(1); });
