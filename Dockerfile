FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/rosterd ./cmd/rosterd && CGO_ENABLED=0 go build -o /out/roster ./cmd/roster

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/rosterd /out/roster /usr/local/bin/
ENTRYPOINT []
