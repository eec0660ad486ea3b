"""Encoders turning emulator fixes into the frames of real tracker protocols (independent of the gateway)."""
