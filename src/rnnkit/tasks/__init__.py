"""What differs per application: data adapter, model preset, metric and train/evaluate/predict."""
