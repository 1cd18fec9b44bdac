"""seed_app.py — the seed article's FastAPI model server, code as in the seed (the serving
benchmark's peer). Only the model path differs: SEED_MODEL (default model.pkl), a joblib file
holding a scikit-learn GradientBoostingClassifier written by make_models.py.

  SEED_MODEL=gbc.joblib /usr/bin/python3 -m uvicorn seed_app:app --workers 1 --port PORT
"""
import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
import joblib
import numpy as np

app = FastAPI()
model = joblib.load(os.environ.get("SEED_MODEL", "model.pkl"))


class PredictionRequest(BaseModel):
    features: list[float]


class PredictionResponse(BaseModel):
    prediction: float
    confidence: float


@app.post("/predict", response_model=PredictionResponse)
async def predict(request: PredictionRequest):
    try:
        features = np.array([request.features])
        prediction = model.predict(features)[0]
        proba = model.predict_proba(features)[0]
        confidence = float(max(proba))

        return PredictionResponse(
            prediction=float(prediction),
            confidence=confidence
        )
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))


@app.get("/health")
async def health_check():
    return {"status": "healthy"}
