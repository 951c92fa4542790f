module example.com/go-id

go 1.19
