"""CoreDNS's `hosts` plugin: names from a hosts file and inline entries (k3s's NodeHosts,
minikube's host.minikube.internal), A/AAAA, PTR and wildcards, reloaded when the file
changes."""
