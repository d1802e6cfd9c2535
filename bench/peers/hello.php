<?php
// The PHP hello of bench/peers.sh, served by Debian's php-fpm8.2.
header('Content-Type: text/plain');
echo "Hello, world!\n";
