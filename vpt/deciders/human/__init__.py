"""Human baselines: a browser experiment (jsPsych 8 served by FastAPI/uvicorn, answers in SQLite)
that writes the same trial table as the models (`vpt human serve`, `vpt human export`)."""
