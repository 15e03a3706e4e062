#!/bin/sh
# The greeter: answers every connection on $PORT with one line naming the
# receiver, this container and its UUID. Exits on SIGTERM so stops are quick.
trap 'exit 0' TERM INT
while :; do
	echo "Hi $RECEIVER from container $NAME with UUID=$UUID" | nc -l -p "$PORT" &
	wait $!
done
