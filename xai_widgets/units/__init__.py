"""What single units (channels) do (Yosinski et al. 2015; Zeiler & Fergus 2014; Bau et al. 2017;
Olah et al. 2017): tiles and their normalisation (grid), backward views (backview), dataset
scans for top-k patches, unit statistics and dissection (scan), and synthesised images that
maximise a unit (featurevis)."""
