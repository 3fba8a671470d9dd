<?php
/*
 * goresque's PHP bridge: runs php-resque job classes for goresque (package compat).
 *
 *   php runner.php check   load the application (APP_INCLUDE) once, report success, exit
 *   php runner.php once    run the one job read from stdin, then exit
 *   php runner.php pool    load the application once, then run jobs read from stdin until
 *                          stdin closes; with GORESQUE_ISOLATION=fork each job runs in a
 *                          child forked from this warm process, as php-resque forks per job
 *
 * Protocol: stdin carries requests, file descriptor 3 carries replies, so whatever a job
 * prints on stdout/stderr is the job's own output (goresque logs it). Each message is
 * "<length>\n<JSON of that many bytes>". A request is {"queue":Q,"worker":W,"payload":P}
 * with P the payload exactly as taken from the queue. A reply is one of
 *   {"ok":true,"result":R}                       perform() returned R
 *   {"dontPerform":true}                         Resque_Job_DontPerform was thrown
 *   {"exception":C,"message":M,"backtrace":[..]} the job threw C
 *   {"dirty":N}                                  a forked child exited with code N, or
 *                                                died by signal (N = -signal)
 *   {"child":PID}                                (fork mode) sent before the outcome: the
 *                                                child's pid, so goresque can kill it alone
 *   {"ready":true}                               after start-up (pool and check)
 * Every outcome also carries "mem": this process's memory_get_usage(true).
 *
 * Before each reply (ready or an outcome) the runner writes GORESQUE_OUTPUT_MARK on stdout
 * and on stderr: goresque logs a job's output up to that mark as the job's, the last line
 * even without its newline, and only then takes the next job.
 *
 * The job sees what php-resque gives it: new $class(); ->args = args[0]; ->queue; ->job,
 * a Resque_Job when the application provides php-resque, else a stand-in with the same
 * shape; setUp(), perform(), tearDown(); Resque_Event beforePerform/afterPerform/onFailure
 * when php-resque is loaded. Nothing here declares a class the application may declare:
 * php-resque's exception classes are defined only by a last-resort autoloader, when no
 * autoloader of the application knows them.
 */

namespace Goresque\Bridge;

// Deprecations (PHP 8.2 dynamic properties, strftime) would pollute the job's output; the
// php.ini or GORESQUE_PHP_ARGS can change this, as php-resque's users do with -d.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_STRICT);

const DIALECT_1 = 'php-resque-1';

/** Job is what $this->job looks like when the application has no php-resque. */
class Job
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

    public function __toString()
    {
        return '(Job{' . $this->queue . '} | ID: ' . (isset($this->payload['id']) ? $this->payload['id'] : '')
            . ' | ' . $this->payload['class'] . ' | ' . json_encode($this->getArguments()) . ')';
    }
}

function out()
{
    static $fd = null;
    if ($fd === null) {
        $fd = fopen('php://fd/3', 'wb');
        if ($fd === false) {
            fwrite(STDERR, "goresque runner: file descriptor 3 is not open\n");
            exit(70);
        }
    }
    return $fd;
}

function send($msg)
{
    $msg['mem'] = memory_get_usage(true);
    $json = json_encode($msg, JSON_PARTIAL_OUTPUT_ON_ERROR);
    $fd = out();
    fwrite($fd, strlen($json) . "\n" . $json);
    fflush($fd);
}

/**
 * Ends a job's output (or the start-up's): flushes output buffers the job left open, then
 * writes the end mark on both streams (through the streams, not the output layer).
 */
function endOutput()
{
    static $mark = null;
    if ($mark === null) {
        $mark = (string)getenv('GORESQUE_OUTPUT_MARK');
    }
    while (ob_get_level() > 0 && @ob_end_flush()) {
    }
    if ($mark !== '') {
        fwrite(STDOUT, $mark);
        fwrite(STDERR, $mark);
    }
}

function receive()
{
    $line = fgets(STDIN);
    if ($line === false) {
        return null;
    }
    $n = (int)$line;
    $data = '';
    while (strlen($data) < $n) {
        $chunk = fread(STDIN, $n - strlen($data));
        if ($chunk === false || $chunk === '') {
            return null;
        }
        $data .= $chunk;
    }
    return json_decode($data, true);
}

/** Defines php-resque's exception classes only when the application cannot load them. */
function registerFallbacks()
{
    spl_autoload_register(function ($class) {
        switch ($class) {
            case 'Resque_Exception':
                eval('class Resque_Exception extends Exception {}');
                break;
            case 'Resque_Job_DontPerform':
                eval('class Resque_Job_DontPerform extends Exception {}');
                break;
            case 'Resque_Job_DirtyExitException':
                eval('class Resque_Job_DirtyExitException extends Resque_Exception {}');
                break;
        }
    }, true, false);
}

/** Loads the application the way bin/resque does, and points php-resque at our Redis. */
function bootstrap()
{
    $app = getenv('APP_INCLUDE');
    if ($app !== false && $app !== '') {
        if (!file_exists($app)) {
            fwrite(STDERR, "APP_INCLUDE ($app) does not exist.\n");
            exit(78);
        }
        require_once $app;
    }
    registerFallbacks();
    // bin/resque: Resque::setBackend($REDIS_BACKEND, $REDIS_BACKEND_DB); Resque_Redis::prefix($PREFIX)
    if (class_exists('Resque') && method_exists('Resque', 'setBackend')) {
        $backend = getenv('REDIS_BACKEND');
        if ($backend !== false && $backend !== '') {
            $db = getenv('REDIS_BACKEND_DB');
            \Resque::setBackend($backend, $db === false || $db === '' ? 0 : (int)$db);
        }
        $prefix = getenv('PREFIX');
        if ($prefix !== false && $prefix !== '' && class_exists('Resque_Redis') && method_exists('Resque_Redis', 'prefix')) {
            \Resque_Redis::prefix($prefix);
        }
    }
}

function isDontPerform($e)
{
    return $e instanceof \Resque_Job_DontPerform || is_a($e, 'Resque\Job\DontPerform');
}

function trigger($event, $a, $b = null)
{
    if (class_exists('Resque_Event')) {
        if ($b === null) {
            \Resque_Event::trigger($event, $a);
        } else {
            \Resque_Event::trigger($event, array('exception' => $a, 'job' => $b));
        }
    }
}

/** Runs one job (Resque_Job::perform) and returns the reply. */
function perform($req)
{
    $payload = $req['payload'];
    $queue = $req['queue'];
    $class = isset($payload['class']) ? $payload['class'] : '';
    if (class_exists('Resque_Job')) {
        $job = new \Resque_Job($queue, $payload);
    } else {
        $job = new Job($queue, $payload);
    }
    $job->worker = isset($req['worker']) ? $req['worker'] : null;
    $dialect = getenv('GORESQUE_DIALECT');
    try {
        trigger('beforePerform', $job);
        if (!class_exists($class)) {
            throw new \Resque_Exception('Could not find job class ' . $class . '.');
        }
        if (!method_exists($class, 'perform')) {
            throw new \Resque_Exception('Job class ' . $class . ' does not contain a perform method.');
        }
        $instance = new $class();
        $instance->args = isset($payload['args'][0]) ? $payload['args'][0] : null;
        $instance->queue = $queue;
        $instance->job = $job;
        if (method_exists($instance, 'setUp')) {
            $instance->setUp();
        }
        $result = $instance->perform();
        if (method_exists($instance, 'tearDown')) {
            $instance->tearDown();
        }
        trigger('afterPerform', $job);
        return array('ok' => true, 'result' => $result);
    } catch (\Throwable $e) {
        if (isDontPerform($e)) {
            return array('dontPerform' => true);
        }
        if ($dialect === DIALECT_1 && !($e instanceof \Exception)) {
            // chrisboulton/php-resque catches only Exception: an Error kills its child,
            // which the parent records as "Job exited with exit code 255" (golden 10).
            fwrite(STDERR, 'PHP Fatal error:  Uncaught ' . $e . "\n");
            return array('dirty' => 255);
        }
        trigger('onFailure', $e, $job);
        return array(
            'exception' => get_class($e),
            'message' => $e->getMessage(),
            'backtrace' => explode("\n", $e->getTraceAsString()),
        );
    }
}

/**
 * Makes this forked child die when the warm process does (which dies with the goresque
 * worker): prctl(PR_SET_PDEATHSIG, SIGKILL) through FFI, when PHP has it. Otherwise, as with
 * php-resque, a child can outlive a worker killed with SIGKILL and finish its job, which the
 * next worker has recorded as a dirty exit. The FFI binding is made once, in the warm
 * process (prctlBinding), not in every child.
 */
function dieWithParent($prctl)
{
    if ($prctl === null) {
        return;
    }
    $parent = posix_getppid();
    $prctl->prctl(1, 9, 0, 0, 0); // PR_SET_PDEATHSIG, SIGKILL
    if (posix_getppid() !== $parent) {
        exit(137); // the warm process died before the death signal was armed
    }
}

function prctlBinding()
{
    if (!class_exists('FFI', false) || !function_exists('posix_getppid')) {
        return null;
    }
    try {
        return \FFI::cdef('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);', 'libc.so.6');
    } catch (\Throwable $e) {
        return null; // FFI disabled (ffi.enable=false), or no glibc (not Linux)
    }
}

/** What a child that ends through quickExit appends to its outcome. */
const QUICK_EXIT = "\n0";

/**
 * Ends a forked child that has sent its outcome the cheap way. PHP's exit runs the
 * shutdown functions, the destructors and flushes the output buffers (php_request_shutdown's
 * first three steps: everything a job or its application can observe), then frees every
 * request and module structure one by one. In a child forked from the warm process that
 * freeing touches memory shared with the parent copy-on-write: it was most of a forked job's
 * cost (about 45 of 50 ms of CPU per job on this project's CI machine, where page faults are
 * dear). So the child lets PHP run those first three steps, and from the last output
 * handler (installed by the last shutdown function, so it runs after the destructors) writes
 * what is left of its output, marks its outcome as a clean exit (QUICK_EXIT) and kills
 * itself with SIGKILL; the kernel frees the rest at once. A fatal error during shutdown
 * takes PHP's normal exit, with its exit code, as before.
 */
function quickExit($sock)
{
    if (!function_exists('posix_kill')) {
        return;
    }
    register_shutdown_function(function () use ($sock) {
        // Buffers the job left open: flushed now, as PHP would after the destructors.
        while (ob_get_level() > 0 && @ob_end_flush()) {
        }
        ob_start(function ($buffer, $phase) use ($sock) {
            if (!($phase & PHP_OUTPUT_HANDLER_FINAL)) {
                return $buffer;
            }
            $e = error_get_last();
            if ($e !== null && ($e['type'] & (E_ERROR | E_PARSE | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR | E_RECOVERABLE_ERROR))) {
                return $buffer;
            }
            if ($buffer !== '') {
                fwrite(STDOUT, $buffer);
            }
            fwrite($sock, QUICK_EXIT);
            posix_kill(posix_getpid(), 9);
            return $buffer;
        });
    });
}

/** Runs one job in a child forked from this warm process (php-resque's Resque::fork). */
function performForked($req, $prctl)
{
    if (!function_exists('pcntl_fork')) {
        return perform($req);
    }
    $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
    if (class_exists('Resque', false) && method_exists('Resque', 'fork')) {
        $pid = \Resque::fork(); // drops php-resque's Redis connection first
    } else {
        $pid = pcntl_fork();
    }
    if ($pid === -1 || $pid === false) {
        return array('exception' => 'RuntimeException', 'message' => 'Unable to fork child worker.', 'backtrace' => array('#0 {main}'));
    }
    if ($pid === 0) {
        fclose($pair[0]);
        posix_setpgid(0, 0);
        dieWithParent($prctl);
        $reply = perform($req);
        $json = json_encode($reply, JSON_PARTIAL_OUTPUT_ON_ERROR);
        fwrite($pair[1], $json);
        quickExit($pair[1]);
        exit(0);
    }
    fclose($pair[1]);
    send(array('child' => $pid));
    $json = stream_get_contents($pair[0]);
    fclose($pair[0]);
    pcntl_waitpid($pid, $status);
    $quick = substr($json, -strlen(QUICK_EXIT)) === QUICK_EXIT;
    if ($quick) {
        $json = substr($json, 0, -strlen(QUICK_EXIT));
    }
    if (pcntl_wifsignaled($status) && !($quick && pcntl_wtermsig($status) === 9)) {
        return array('dirty' => -pcntl_wtermsig($status));
    }
    $code = $quick ? 0 : pcntl_wexitstatus($status);
    if ($json === '' || $json === false) {
        // The job called exit(): like php-resque, exit code 0 is a success.
        return $code === 0 ? array('ok' => true, 'result' => null) : array('dirty' => $code);
    }
    if ($code !== 0) {
        return array('dirty' => $code);
    }
    return json_decode($json, true);
}

$mode = isset($argv[1]) ? $argv[1] : '';
switch ($mode) {
    case 'check':
        bootstrap();
        endOutput();
        send(array('ready' => true));
        exit(0);
    case 'once':
        bootstrap();
        $req = receive();
        if ($req === null) {
            fwrite(STDERR, "goresque runner: no job on stdin\n");
            exit(70);
        }
        $reply = perform($req);
        endOutput();
        send($reply);
        exit(0);
    case 'pool':
        bootstrap();
        $fork = getenv('GORESQUE_ISOLATION') === 'fork';
        $prctl = $fork ? prctlBinding() : null;
        endOutput();
        send(array('ready' => true));
        while (($req = receive()) !== null) {
            $reply = $fork ? performForked($req, $prctl) : perform($req);
            endOutput();
            send($reply);
        }
        exit(0);
    default:
        fwrite(STDERR, "usage: php runner.php check|once|pool\n");
        exit(64);
}
