module anycgi.bench/hello-go-fcgi

go 1.19
