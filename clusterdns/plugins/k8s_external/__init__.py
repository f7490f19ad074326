"""CoreDNS's `k8s_external` plugin: the external IPs and load balancers of the cluster's
Services (and with `headless`, headless Services' endpoints) under zones of their own, with
SOA and NS at each zone's apex, from the data of the block's `kubernetes`."""
