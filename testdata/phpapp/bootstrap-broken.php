<?php
// An application whose bootstrap fails: goresque must say so at start, once.
throw new RuntimeException('database config missing');
