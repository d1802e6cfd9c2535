module anycgi.bench/hello-go

go 1.19
