<?php
// A PHP backend for the gateway's end-to-end tests, run by PHP's built-in server (php -S): it answers
// with what PHP made of the request — the $_SERVER variables from headers, $_GET, $_POST — and the
// method a framework that honours overrides would run (Symfony and Laravel's rules, applied to every
// method, the way hand-written PHP reading $_REQUEST does).
$server = [];
foreach ($_SERVER as $name => $value) {
    if (str_starts_with($name, 'HTTP_') || str_starts_with($name, 'CONTENT_')) $server[$name] = $value;
}
$type = $_SERVER['CONTENT_TYPE'] ?? ($_SERVER['HTTP_CONTENT_TYPE'] ?? '');
$input = file_get_contents('php://input');
// Laravel: a body whose Content-Type contains /json or +json is JSON, merged into the request's parameters.
$json = (str_contains($type, '/json') || str_contains($type, '+json')) ? json_decode($input, true) : null;
$override = $_SERVER['HTTP_X_HTTP_METHOD_OVERRIDE'] ?? $_SERVER['HTTP_X_HTTP_METHOD'] ?? $_SERVER['HTTP_X_METHOD_OVERRIDE']
    ?? (is_array($json) ? ($json['_method'] ?? null) : null) ?? $_POST['_method'] ?? $_GET['_method'] ?? null;
header('Content-Type: application/json');
echo json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'effective_method' => is_string($override) ? strtoupper($override) : $_SERVER['REQUEST_METHOD'],
    'server' => $server,
    'get' => $_GET,
    'post' => $_POST,
]);
