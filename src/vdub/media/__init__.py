"""Media in and out: ffmpeg process handling, video and audio decoding and encoding, ingest (frame-rate
conform of the dubber to the actor), muxing the dubbed audio, and the probe of the sample sheet's inputs."""
