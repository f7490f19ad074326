"""CoreDNS's `rewrite`: the question changed before the rest of the block's chain sees it
(name, type, class), and the reply changed back on its way out (the question restored, names
and values mapped back, TTLs and rcodes rewritten)."""
