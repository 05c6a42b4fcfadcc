"""Use cases: one module per capability, each public function one unit of work taking an Actor first."""
