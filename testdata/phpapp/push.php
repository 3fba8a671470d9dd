<?php
// A PHP pusher that writes exactly what php-resque's Resque::enqueue writes, without
// php-resque or any extension: SADD queues, RPUSH queue:<q> json_encode(payload), and the
// status key when tracked (chrisboulton/php-resque 1.x format, or resque/php-resque 1.3 with
// --dialect=136). Used by scripts/demo.sh and the PHP bridge tests.
//
//   php push.php REDIS QUEUE CLASS ARGS_JSON [--track] [--dialect=136] [--prefix=resque]
//
// REDIS is a unix socket path or host:port. Prints the job id.
$redis = $argv[1];
$queue = $argv[2];
$class = $argv[3];
$args = json_decode($argv[4], true);
$track = in_array('--track', $argv, true);
$dialect = in_array('--dialect=136', $argv, true) ? '136' : '1';
$ns = 'resque:';
foreach ($argv as $a) {
    if (strpos($a, '--prefix=') === 0) {
        $ns = rtrim(substr($a, 9), ':') . ':';
    }
}

$addr = $redis[0] === '/' ? 'unix://' . $redis : 'tcp://' . $redis;
$sock = stream_socket_client($addr, $errno, $errstr, 5);
if (!$sock) {
    fwrite(STDERR, "push.php: cannot connect to $redis: $errstr\n");
    exit(1);
}
function cmd($sock, array $parts)
{
    $out = '*' . count($parts) . "\r\n";
    foreach ($parts as $p) {
        $out .= '$' . strlen($p) . "\r\n" . $p . "\r\n";
    }
    fwrite($sock, $out);
    $line = fgets($sock);
    if ($line[0] === '-') {
        fwrite(STDERR, "push.php: redis: $line");
        exit(1);
    }
    return $line;
}

// Resque_Job::create
$id = md5(uniqid('', true));
$payload = array('class' => $class, 'args' => array($args), 'id' => $id);
if ($dialect === '136') {
    $payload['prefix'] = '';
}
$payload['queue_time'] = microtime(true);
cmd($sock, array('SADD', $ns . 'queues', $queue));
cmd($sock, array('RPUSH', $ns . 'queue:' . $queue, json_encode($payload)));
if ($track) {
    // Resque_Job_Status::create
    $packet = array('status' => 1, 'updated' => time(), 'started' => time());
    if ($dialect === '136') {
        $packet['result'] = null;
    }
    cmd($sock, array('SET', $ns . 'job:' . $id . ':status', json_encode($packet)));
}
echo $id, "\n";
