<?php
// The PHP side of goresque's operation tests (resque/operate_php_test.go): real php-resque
// and php-resque-scheduler from ../shared/thirdparty, run against the test's Redis. Not a
// goresque component.
//
//   php php.php THIRDPARTY DIALECT HOST:PORT PREFIX ACTION [ARGS...]
//
// DIALECT is php-resque-1 (with the chrisboulton/php-resque-scheduler add-on) or
// php-resque-136 (with its built-in ResqueScheduler). Actions print JSON:
//   fail QUEUE PAYLOAD_JSON MESSAGE     Resque_Failure::create, as a worker records a failure
//   failed                              every `failed` record, json_decode'd
//   enqueue-at TS QUEUE CLASS ARGS_JSON ResqueScheduler::enqueueAt
//   enqueue-in SECS QUEUE CLASS ARGS_JSON ResqueScheduler::enqueueIn
//   remove-delayed QUEUE CLASS ARGS_JSON  ResqueScheduler::removeDelayed; prints the count
//   scheduler-pass                      ResqueScheduler_Worker::handleDelayedItems once
//   scheduler-loop                      the scheduler worker's loop (INTERVAL=0), until killed
//   dequeue QUEUE ITEMS_JSON            Resque::dequeue; prints the count
$root = $argv[1];
$dialect = $argv[2];
require_once "$root/credis/Client.php";
spl_autoload_register(function ($class) use ($root, $dialect) {
    if (strncmp($class, 'Credis_', 7) === 0) {
        require_once "$root/credis/" . substr($class, 7) . '.php';
        return;
    }
    if (strncmp($class, 'Psr\\Log\\', 8) === 0) {
        require_once "$root/psrlog/Psr/Log/" . str_replace('\\', '/', substr($class, 8)) . '.php';
        return;
    }
    $base = "$root/$dialect/lib/";
    if (strpos($class, 'ResqueScheduler') === 0 && $dialect === 'php-resque-1') {
        $base = "$root/php-resque-scheduler/lib/";
    }
    $f = $base . str_replace('_', '/', $class) . '.php';
    if (file_exists($f)) {
        require_once $f;
    }
});
Resque::setBackend($argv[3]);
Resque_Redis::prefix($argv[4]);
$args = array_slice($argv, 6);
switch ($argv[5]) {
case 'fail':
    $worker = new Resque_Worker(array($args[0]));
    Resque_Failure::create(json_decode($args[1], true), new Exception($args[2]), $worker, $args[0]);
    echo 'true';
    break;
case 'failed':
    $out = array();
    foreach (Resque::redis()->lrange('failed', 0, -1) as $entry) {
        $out[] = json_decode($entry, true);
    }
    echo json_encode($out);
    break;
case 'enqueue-at':
    ResqueScheduler::enqueueAt((int)$args[0], $args[1], $args[2], json_decode($args[3], true));
    echo 'true';
    break;
case 'enqueue-in':
    ResqueScheduler::enqueueIn((int)$args[0], $args[1], $args[2], json_decode($args[3], true));
    echo 'true';
    break;
case 'remove-delayed':
    echo json_encode(ResqueScheduler::removeDelayed($args[0], $args[1], json_decode($args[2], true)));
    break;
case 'scheduler-pass':
    $w = new ResqueScheduler_Worker();
    $w->handleDelayedItems();
    echo 'true';
    break;
case 'scheduler-loop':
    $w = new ResqueScheduler_Worker();
    $w->work(0);
    break;
case 'dequeue':
    echo json_encode(Resque::dequeue($args[0], json_decode($args[1], true)));
    break;
default:
    fwrite(STDERR, "unknown action\n");
    exit(2);
}
