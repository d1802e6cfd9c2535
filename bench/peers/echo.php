<?php
// The PHP echo of bench/peers.sh: reads the body and answers a small JSON
// with its byte count and FNV-1a 64 hash (PHP's own hash('fnv1a64')), the
// same work as anycgi echo's body_bytes and body_fnv1a64.
$body = file_get_contents('php://input');
header('Content-Type: application/json');
printf("{\"body_bytes\": %d, \"body_fnv1a64\": \"%s\"}\n", strlen($body),
       hash('fnv1a64', $body));
