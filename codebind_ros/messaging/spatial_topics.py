"""Topic and service names between the localisation and memory nodes (relative names).

The sensor and embedding topics are in :mod:`codebind_ros.messaging.topics`; these link localisation
proposals to the memory and let clients watch what the memory has committed.
"""
PROPOSALS = "codebind/proposals"              # codebind_ros/ProposalArray: a frame's proposals (embedding + geometry)
LOCALISE_SERVICE = "codebind/localise"        # codebind_ros/srv/QueryText against the latest camera frame
MEMORY_ACK = "codebind/memory/ack"            # std_msgs/UInt64: highest committed observation id
GROUND_TRUTH = "sensor_player/ground_truth"   # std_msgs/String (JSON): the simulated scene's objects
OBJECT_ACK = "codebind/memory/object_ack"     # std_msgs/UInt64: highest object id committed
MEMORY_MARKERS = "codebind/memory/markers"    # visualization_msgs/MarkerArray: the memory's objects
