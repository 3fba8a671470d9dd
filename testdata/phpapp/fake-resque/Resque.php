<?php
// A small stand-in for php-resque's classes that jobs and bootstraps use (Resque::enqueue,
// Resque::setBackend, Resque_Redis::prefix, Resque::fork, Resque_Job, Resque_Event,
// Resque_Job_DontPerform), writing Redis exactly as php-resque does, for tests that must
// run where real php-resque cannot be installed. resque/interop_test.go runs the real one.
class Resque
{
    public static $backend;
    public static $redis;
    public static function setBackend($server, $database = 0)
    {
        self::$backend = $server;
        self::$redis = null;
    }
    public static function redis()
    {
        if (self::$redis === null) {
            self::$redis = new Resque_Redis(self::$backend);
        }
        return self::$redis;
    }
    public static function fork()
    {
        self::$redis = null;
        $pid = pcntl_fork();
        if ($pid === -1) {
            throw new RuntimeException('Unable to fork child worker.');
        }
        return $pid;
    }
    public static function enqueue($queue, $class, $args = null, $trackStatus = false)
    {
        // resque/php-resque 1.3 adds "prefix" and a status "result"; goresque's bridge says
        // which dialect it stands in for in GORESQUE_DIALECT.
        $v13 = getenv('GORESQUE_DIALECT') !== 'php-resque-1';
        $id = md5(uniqid('', true));
        $payload = array('class' => $class, 'args' => array($args), 'id' => $id);
        if ($v13) {
            $payload['prefix'] = '';
        }
        $payload['queue_time'] = microtime(true);
        self::redis()->cmd('SADD', 'queues', $queue);
        self::redis()->cmd('RPUSH', 'queue:' . $queue, json_encode($payload));
        if ($trackStatus) {
            $packet = array('status' => 1, 'updated' => time(), 'started' => time());
            if ($v13) {
                $packet['result'] = null;
            }
            self::redis()->cmd('SET', 'job:' . $id . ':status', json_encode($packet));
        }
        return $id;
    }
}

class Resque_Redis
{
    private static $prefix = 'resque:';
    private $sock;
    public static function prefix($p)
    {
        self::$prefix = rtrim($p, ':') . ':';
    }
    public function __construct($backend)
    {
        $addr = $backend[0] === '/' ? 'unix://' . $backend : 'tcp://' . $backend;
        $this->sock = stream_socket_client($addr, $errno, $errstr, 5);
        if (!$this->sock) {
            throw new RuntimeException("cannot connect to $backend: $errstr");
        }
    }
    public function cmd($name, $key)
    {
        $args = func_get_args();
        $args[1] = self::$prefix . $key;
        $out = '*' . count($args) . "\r\n";
        foreach ($args as $a) {
            $out .= '$' . strlen($a) . "\r\n" . $a . "\r\n";
        }
        fwrite($this->sock, $out);
        return fgets($this->sock);
    }
}

class Resque_Job
{
    public $queue;
    public $payload;
    public $worker;
    public function __construct($queue, $payload)
    {
        $this->queue = $queue;
        $this->payload = $payload;
    }
    public function getArguments()
    {
        return isset($this->payload['args'][0]) ? $this->payload['args'][0] : array();
    }
}

class Resque_Event
{
    private static $events = array();
    public static function listen($event, $callback)
    {
        self::$events[$event][] = $callback;
    }
    public static function trigger($event, $data = null)
    {
        foreach (isset(self::$events[$event]) ? self::$events[$event] : array() as $cb) {
            call_user_func($cb, $data);
        }
    }
}

class Resque_Exception extends Exception
{
}

class Resque_Job_DontPerform extends Exception
{
}
