"""The agents of the simulated system, one per module. They do their job and count
into the observer; they never format, print or plot."""
