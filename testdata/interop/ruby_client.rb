# The Ruby side of goresque's interop tests (resque/interop_ruby_test.go): Ruby resque
# 2.7.0's own API against the test's Redis. Not a goresque component.
#
#   ruby -I RESQUE_LIB ruby_client.rb REDIS_URL ACTION [ARGS...]
#
#   enqueue QUEUE CLASS ARGS_JSON   Resque::Job.create(QUEUE, CLASS, *ARGS)
#   info                            Resque.info, Resque.workers, Resque.working and each job
#   failed                          Resque::Failure.all(0, count)
#   requeue INDEX                   Resque::Failure.requeue(INDEX)
#   worker QUEUES                   a Ruby worker (Resque::Worker#work) for QUEUES (comma
#                                   separated); its jobs RubyJob and RubySlow are below
#   web PORT                        resque-web (Resque::Server) under Rack/WEBrick
#
# REDIS_URL may be redis://host:port/db or unix:///path/to/socket.
require "json"
require "resque"

url = ARGV[0]
Resque.redis = url.start_with?("unix://") ? Redis.new(path: url.delete_prefix("unix://")) : Redis.new(url: url)
# RESQUE_NAMESPACE: the key prefix (goresque's PREFIX); default "resque".
Resque.redis.namespace = ENV["RESQUE_NAMESPACE"] if ENV["RESQUE_NAMESPACE"]
# RESQUE_PRUNE_INTERVAL: seconds after which a heartbeat is stale (default 300).
Resque.prune_interval = Integer(ENV["RESQUE_PRUNE_INTERVAL"]) if ENV["RESQUE_PRUNE_INTERVAL"]
action = ARGV[1]
args = ARGV[2..]

# RubyJob records its arguments in Redis, so the test sees that it ran.
class RubyJob
  def self.perform(*args)
    Resque.redis.rpush("ruby-performed", args.to_json)
  end
end

# RubySlow runs until the key ruby-release exists.
class RubySlow
  def self.perform(*args)
    Resque.redis.rpush("ruby-started", args.to_json)
    sleep 0.05 until Resque.redis.exists?("ruby-release")
  end
end

case action
when "enqueue"
  Resque::Job.create(args[0], args[1], *JSON.parse(args[2]))
  puts "null"
when "info"
  out = {
    "info" => Resque.info,
    "workers" => Resque.workers.map(&:to_s).sort,
    "working" => Resque.working.map(&:to_s).sort,
    "jobs" => Resque.workers.to_h { |w| [w.to_s, w.job] },
    "heartbeats" => Resque::Worker.all_heartbeats,
  }
  puts out.to_json
when "failed"
  all = Resque::Failure.all(0, Resque::Failure.count) # one record comes as a Hash
  puts (all.is_a?(Hash) ? [all] : Array(all)).to_json
when "requeue"
  Resque::Failure.requeue(Integer(args[0]))
  puts "null"
when "worker"
  ENV["FORK_PER_JOB"] = "false"
  Resque.logger = MonoLogger.new($stdout)
  Resque.logger.level = Logger::INFO
  $stdout.sync = true
  worker = Resque::Worker.new(*args[0].split(","))
  worker.prepare
  worker.work(0.1)
when "web"
  require "resque/server"
  require "rack"
  require "webrick"
  handler = defined?(Rack::Handler::WEBrick) ? Rack::Handler::WEBrick : Rackup::Handler::WEBrick
  handler.run(Resque::Server.new, Host: "127.0.0.1", Port: Integer(args[0]),
              AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))
else
  warn "unknown action #{action}"
  exit 2
end
