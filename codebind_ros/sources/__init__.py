"""What the sensor player publishes instead of a robot: the simulated SynthBind scene (sim_scene)
and recorded bags (bag_replay). Libraries below the nodes: no node or tool imports from here up."""
