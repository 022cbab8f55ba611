import mongoose, { Schema, type Types } from 'mongoose';

export interface ProjectDoc {
  _id: Types.ObjectId;
  workspaceId: Types.ObjectId;
  name: string;
  description?: string | null;
  color?: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const projectSchema = new Schema<ProjectDoc>(
  {
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    name: { type: String, required: true },
    description: { type: String, default: null },
    color: { type: String, default: null },
  },
  { timestamps: true },
);
projectSchema.index({ workspaceId: 1, createdAt: -1, _id: -1 });

export const Project = mongoose.model<ProjectDoc>('Project', projectSchema);
