<?php
// The PHP reference of the bundled test app (php-fpm-nginx): same paths and bodies as testapp.py.
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
switch ($path) {
    case '/hello':
        header('Content-Type: text/plain');
        echo 'Hello World!';
        break;
    case '/json':
        header('Content-Type: application/json');
        echo json_encode([
            'message' => 'Hello World!',
            'workload' => 'json',
            'numbers' => range(1, 10),
            'nested' => ['ok' => true, 'none' => null, 'name' => 'wsgicompare'],
        ]);
        break;
    case '/cpu':
        // the same recurrence as cpu_result() in backends/workloads.py
        $acc = 0;
        for ($i = 0; $i < 50000; $i++) {
            $acc = ($acc * 31 + $i * $i) % 1000003;
        }
        header('Content-Type: text/plain');
        echo 'cpu ' . $acc;
        break;
    case '/io':
        usleep(10000);
        header('Content-Type: text/plain');
        echo 'slept 10 ms';
        break;
    case '/bytes':
        header('Content-Type: application/octet-stream');
        echo str_repeat('abcdefghijklmnopqrstuvwxyz012345', 8192);
        break;
    case '/upload':
        // the whole body, then its length and SHA-256 (as upload_answer in backends/workloads.py)
        $body = file_get_contents('php://input');
        header('Content-Type: text/plain');
        echo strlen($body) . ' ' . hash('sha256', $body);
        break;
    case '/stream':
        // STREAM_CHUNK (64 KiB) repeated to size=N bytes (default 16 MiB), each chunk flushed
        parse_str($_SERVER['QUERY_STRING'] ?? '', $query);
        $size = $query['size'] ?? '16777216';
        if (!ctype_digit((string) $size) || (int) $size > 268435456) {
            http_response_code(400);
            echo 'size must be 0..268435456';
            break;
        }
        $size = (int) $size;
        $chunk = str_repeat('0123456789abcdef', 4096);
        header('Content-Type: application/octet-stream');
        header('Content-Length: ' . $size);
        for ($sent = 0; $sent < $size; $sent += strlen($chunk)) {
            echo $sent + strlen($chunk) <= $size ? $chunk : substr($chunk, 0, $size - $sent);
            flush();
        }
        break;
    default:
        http_response_code(404);
        header('Content-Type: text/plain');
        echo 'not found';
}
