"""The hosts: SSH to one host and to many, the script runner, facts, OS data and the host state kub owns."""
