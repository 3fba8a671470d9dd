<?php
// The PHP side of goresque's interoperability test (resque/interop_test.go): php-resque's
// own API, run against the test's Redis. Not a goresque component.
//
//   php client.php AUTOLOAD HOST:PORT PREFIX ACTION [ARGS...]
//
// Actions print JSON:
//   enqueue QUEUE CLASS ARGS_JSON TRACK   Resque::enqueue; prints the id
//   status ID                             Resque_Job_Status::get()
//   workers                               Resque_Worker::all(): id => job()
//   stat NAME                             Resque_Stat::get(NAME)
//   failed                                every `failed` entry decoded with json_decode
require $argv[1];
Resque::setBackend($argv[2]);
Resque_Redis::prefix($argv[3]);
$args = array_slice($argv, 5);
switch ($argv[4]) {
case 'enqueue':
    echo json_encode(Resque::enqueue($args[0], $args[1], json_decode($args[2], true), $args[3] === '1'));
    break;
case 'status':
    $status = new Resque_Job_Status($args[0]);
    echo json_encode($status->get());
    break;
case 'workers':
    $out = array();
    foreach (Resque_Worker::all() as $worker) {
        $out[(string)$worker] = $worker->job();
    }
    echo json_encode((object)$out);
    break;
case 'stat':
    echo json_encode(Resque_Stat::get($args[0]));
    break;
case 'failed':
    $out = array();
    foreach (Resque::redis()->lrange('failed', 0, -1) as $entry) {
        $out[] = json_decode($entry, true);
    }
    echo json_encode($out);
    break;
default:
    fwrite(STDERR, "unknown action\n");
    exit(2);
}
